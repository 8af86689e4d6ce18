"""The course on parallelism for inference: tables and figures by chapter topic."""
