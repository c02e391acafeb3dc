"""The worker's stages chained: item -> article -> dedupe -> rules -> alerts."""
