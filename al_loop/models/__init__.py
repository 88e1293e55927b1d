"""The downstream segmenter (smp) and its pretrained encoder weights."""
