"""Turning files into clean articles and articles into chunks."""
