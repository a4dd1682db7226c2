"""``gaugetest measure``: produce the two sweep files from a checkpoint, with a null.

``readers`` opens safetensors (single file, directory, or sharded with an index)
and GGUF checkpoints without pickle and memory-mapped; ``procrustes`` computes
raw and aligned cosines and the spectrum-matched null; ``sweep`` runs the
layer-pair loop and writes the files.
"""
