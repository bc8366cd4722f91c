"""On-disk layout: manifest, Parquet segments, tombstones, the directory lock."""
