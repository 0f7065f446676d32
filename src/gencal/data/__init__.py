"""gencal.data"""
