"""Decoding: greedy and beam searches for the CTC, Paraformer and autoregressive models."""

from src.decode.hypothesis import BLANK_ID, SOS_EOS_ID, UNK_ID, Hypothesis

__all__ = ["Hypothesis", "BLANK_ID", "SOS_EOS_ID", "UNK_ID"]
