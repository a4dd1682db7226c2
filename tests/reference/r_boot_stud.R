# Reference studentized (bootstrap-t) intervals for the mean from R's `boot` package, for
# gaugetest.bootstrap's "bootstrap-t" and "t-union" methods and equivalence.tost_robust.
# Regenerate (needs r-base-core with the recommended package boot; tests never need R):
#   Rscript tests/reference/r_boot_stud.R > tests/reference/r_boot_stud.json
# 200000 resamples each; the variance of each resampled mean is var(x*) / n (boot's "stud"
# interval takes it from the statistic's second component).  Endpoints carry a Monte Carlo
# error of about 1% of the bootstrap standard error.  Also stored: the one-sided t test
# p-values, the Student t interval, and the 0.05 and 0.95 quantiles of t*.
suppressMessages(library(boot))
set.seed(20261128)
datasets <- list(
  skew12 = c(0.0012, 0.0031, 0.0005, 0.0102, 0.0008, 0.0044, 0.0019, 0.0251, 0.0007, 0.0015,
             0.0063, 0.0010),
  c22 = c(0.612, 0.618, 0.605, 0.631, 0.622, 0.617, 0.609, 0.626, 0.633, 0.611, 0.620,
          0.615, 0.628, 0.602, 0.619, 0.624, 0.610, 0.637, 0.613, 0.621, 0.616, 0.629),
  sym8 = c(-0.8, 0.3, 1.1, -0.2, 0.5, -1.4, 0.9, 0.1)
)
fmt <- function(x) formatC(x, digits = 17, format = "g")
stat <- function(d, i) { x <- d[i]; c(mean(x), var(x) / length(x)) }
out <- c()
for (name in names(datasets)) {
  x <- datasets[[name]]
  n <- length(x)
  b <- boot(x, stat, R = 200000)
  ci <- boot.ci(b, conf = 0.95, type = "stud")
  tstar <- (b$t[, 1] - b$t0[1]) / sqrt(b$t[, 2])
  tstar <- tstar[is.finite(tstar)]
  q <- quantile(tstar, c(0.05, 0.95), type = 7)
  tt <- t.test(x, conf.level = 0.95)
  out <- c(out, sprintf(paste0('  "%s": {"x": [%s], "bootstrap_se": %s, "stud": [%s, %s], ',
                               '"t": [%s, %s], "tstar_q05_q95": [%s, %s], ',
                               '"t_p_less_mean_0": %s}'),
                        name, paste(fmt(x), collapse = ", "), fmt(sd(b$t[, 1])),
                        fmt(ci$student[4]), fmt(ci$student[5]),
                        fmt(tt$conf.int[1]), fmt(tt$conf.int[2]), fmt(q[1]), fmt(q[2]),
                        fmt(t.test(x, mu = 0, alternative = "less")$p.value)))
}
cat("{\n", paste(out, collapse = ",\n"), "\n}\n", sep = "")
