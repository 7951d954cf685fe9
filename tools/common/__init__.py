"""What every vendor package shares: error types, argument types, output compaction, HTTP helpers."""
