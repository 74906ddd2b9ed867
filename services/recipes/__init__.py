"""Tier recipes: a segmentation engine plus the steps after it, one small module per step."""
