"""Trained weights shipped with the course (see README.md here): ``reference_cnn.pt``."""
