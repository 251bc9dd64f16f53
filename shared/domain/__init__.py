"""The pure core: models, reducer, metadata builder, schedules. No I/O here."""
