# Reference BCa / percentile / basic intervals for the mean from R's `boot` package.
# Regenerate (needs r-base-core and r-cran-boot; tests never need R):
#   Rscript tests/reference/r_boot_bca.R > tests/reference/r_boot_bca.json
# Data sets are fixed below; 200000 resamples each, so endpoints carry a Monte Carlo error of
# about 1% of the bootstrap standard error.
suppressMessages(library(boot))
set.seed(20261127)
datasets <- list(
  c22 = c(0.612, 0.618, 0.605, 0.631, 0.622, 0.617, 0.609, 0.626, 0.633, 0.611, 0.620,
          0.615, 0.628, 0.602, 0.619, 0.624, 0.610, 0.637, 0.613, 0.621, 0.616, 0.629),
  skew12 = c(0.0012, 0.0031, 0.0005, 0.0102, 0.0008, 0.0044, 0.0019, 0.0251, 0.0007, 0.0015,
             0.0063, 0.0010),
  tiny5 = c(0.31, 0.29, 0.35, 0.30, 0.42)
)
fmt <- function(x) formatC(x, digits = 17, format = "g")
out <- c()
for (name in names(datasets)) {
  x <- datasets[[name]]
  b <- boot(x, function(d, i) mean(d[i]), R = 200000)
  ci <- boot.ci(b, conf = 0.95, type = c("bca", "perc", "basic"))
  jack <- empinf(b, type = "jack")
  cij <- boot.ci(b, conf = 0.95, type = "bca", L = jack)
  out <- c(out, sprintf(paste0('  "%s": {"x": [%s], "bootstrap_se": %s, ',
                               '"bca": [%s, %s], "bca_jack_L": [%s, %s], ',
                               '"percentile": [%s, %s], "basic": [%s, %s]}'),
                        name, paste(fmt(x), collapse = ", "), fmt(sd(b$t[, 1])),
                        fmt(ci$bca[4]), fmt(ci$bca[5]), fmt(cij$bca[4]), fmt(cij$bca[5]),
                        fmt(ci$percent[4]), fmt(ci$percent[5]),
                        fmt(ci$basic[4]), fmt(ci$basic[5])))
}
cat("{\n", paste(out, collapse = ",\n"), "\n}\n", sep = "")
