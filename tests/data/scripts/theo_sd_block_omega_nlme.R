suppressMessages(library(nlme))
d <- read.csv("tests/data/theo_sd.csv")
dose <- d[d$EVID == 1, c("ID", "AMT")]
obs <- d[d$EVID == 0, c("ID", "TIME", "DV")]
obs$Dose <- dose$AMT[match(obs$ID, dose$ID)]
m <- function(Dose, TIME, lKa, lCl, lV) { ka <- exp(lKa); cl <- exp(lCl); v <- exp(lV); k <- cl / v
  Dose * ka / (v * (ka - k)) * (exp(-k * TIME) - exp(-ka * TIME)) }
f <- nlme(DV ~ m(Dose, TIME, lKa, lCl, lV), data = obs, fixed = lKa + lCl + lV ~ 1,
  random = pdBlocked(list(pdDiag(lKa ~ 1), pdSymm(lCl + lV ~ 1))), groups = ~ID,
  start = c(lKa = 0.45, lCl = 1.0, lV = 3.45), method = "ML")
cat(-2 * logLik(f) - nrow(obs) * log(2 * pi), "\n"); print(fixef(f)); print(VarCorr(f))
