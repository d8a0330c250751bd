"""What people call and see: the command line, the scikit-learn estimators, progress, Ray's gauges, plots,
predictions and exports."""
