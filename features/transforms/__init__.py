"""Feast's on-demand feature views applied to rows read online."""
