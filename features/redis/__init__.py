"""The fast online read for Feast's Redis store: key layout, pipelined reads, decoding."""
