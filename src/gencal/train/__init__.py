"""gencal.train"""
