"""gencal.losses"""
