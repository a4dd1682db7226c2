# Reference values for gaugetest.depth_model from R nlme::gls (REML), written to
# r_nlme_depth.json next to this script.  Run: Rscript tests/reference/r_nlme_depth.R
#
# The depth model with the correlation parameters held fixed is exactly an nlme::gls fit:
#   y ~ phase - 1                     (a level per phase)
#   weights = varIdent(~ 1 | phase)   (a noise scale per phase)
#   correlation = corARMA(form = ~ L | phase, fixed = TRUE)
#                                     (one correlation function, phases independent blocks,
#                                      correlation by the integer distance in L, gaps allowed)
# For each correlation model the script stores the REML log-likelihood, each phase's
# residual sd (sigma * varIdent factor), the GLS phase levels and the correlation matrix of
# one phase.  Data: simulated here (set.seed), stored with the results.
suppressPackageStartupMessages(library(nlme))
set.seed(20261127)

phase <- c(rep("A", 7), rep("C", 12), rep("E", 9))
L <- c(0:6, 7:12, 14:19, 20:28)            # a gap between L = 12 and 14 inside phase C
scale <- c(A = 1.0, C = 0.5, E = 2.0)
e <- as.numeric(arima.sim(list(ar = 0.5), n = length(L)))
y <- c(A = 0.1, C = 0.0, E = 0.3)[phase] + scale[phase] * e
d <- data.frame(y = unname(y), phase = factor(phase), L = L)

models <- list(
  list(name = "ar1", p = 1, q = 0, value = c(0.5)),
  list(name = "ar2", p = 2, q = 0, value = c(0.3, 0.2)),
  list(name = "ma1", p = 0, q = 1, value = c(0.6)),
  list(name = "arma11", p = 1, q = 1, value = c(0.7, -0.3))
)

num <- function(x) paste0("[", paste(sprintf("%.17g", x), collapse = ", "), "]")
out <- c()
for (m in models) {
  cs <- corARMA(value = m$value, form = ~ L | phase, p = m$p, q = m$q, fixed = TRUE)
  fit <- gls(y ~ phase - 1, data = d, correlation = cs,
             weights = varIdent(form = ~ 1 | phase), method = "REML")
  vf <- coef(fit$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)
  sds <- fit$sigma * vf[c("A", "C", "E")]
  cm <- corMatrix(Initialize(cs, data = d))[["C"]]
  out <- c(out, sprintf(paste0(
    '"%s": {"p": %d, "q": %d, "value": %s, "reml_loglik": %.17g, ',
    '"sd": {"A": %.17g, "C": %.17g, "E": %.17g}, "levels": %s, "corr_C": %s}'),
    m$name, m$p, m$q, num(m$value), as.numeric(logLik(fit, REML = TRUE)),
    sds[["A"]], sds[["C"]], sds[["E"]], num(coef(fit)),
    paste0("[", paste(apply(cm, 1, num), collapse = ", "), "]")))
}
json <- paste0('{"generator": "', R.version.string, ', nlme ', packageVersion("nlme"),
               '", "y": ', num(d$y), ', "phase": [', paste0('"', phase, '"', collapse = ", "),
               '], "L": ', num(L), ', "models": {', paste(out, collapse = ", "), '}}')
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
writeLines(json, file.path(here, "r_nlme_depth.json"))
