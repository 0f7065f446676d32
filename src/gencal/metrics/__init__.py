"""gencal.metrics"""
