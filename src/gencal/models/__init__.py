"""gencal.models"""
