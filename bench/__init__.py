"""Benchmarks, each printing ratios against the peer measured in the same run."""
