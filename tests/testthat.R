library(testthat)
library(cphap)

test_check("cphap")
