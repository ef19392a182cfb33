"""The prediction and label logs: where they live, their schema, the writer."""
