# LOESS reference for estimation.plots.style.loess: R's loess (degree 1, span 2/3, gaussian family,
# exact local fits: surface = "direct") on R's built-in `cars` data (speed, stopping distance),
# evaluated at 8 evenly spaced speeds from the smallest to the largest.
# Run: Rscript tests/data/scripts/loess_cars.R > tests/data/loess_cars_R.csv
fit <- loess(dist ~ speed, data = cars, span = 2 / 3, degree = 1, family = "gaussian",
             control = loess.control(surface = "direct"))
grid <- seq(min(cars$speed), max(cars$speed), length.out = 8)
out <- data.frame(speed = grid, fitted = predict(fit, newdata = data.frame(speed = grid)))
write.csv(out, stdout(), row.names = FALSE)
