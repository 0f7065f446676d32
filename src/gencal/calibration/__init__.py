"""gencal.calibration"""
