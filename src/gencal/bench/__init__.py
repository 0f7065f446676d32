"""gencal.bench"""
