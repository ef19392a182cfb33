"""Everything that talks to Feast and the online store: schema, online reads, training data."""
