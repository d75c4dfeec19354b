import os

os.environ.setdefault("MINIMA_PROGRESS", "0")
os.environ.setdefault("MINIMA_DEVICE", "cpu")
