"""The prediction and label logs (their place, schema and writer), and the jobs' run logs."""
