#!/usr/bin/env python3
"""Scores a recording against its reference with ITU-T P.862 PESQ.

Usage: pesq_score.py REFERENCE.wav DEGRADED.wav nb|wb
Both files are mono 16-bit at the same rate (8000 for nb, 16000 for wb). The degraded
file may start anywhere in a longer recording: it is aligned to the reference by
cross-correlation first, and the aligned stretch is scored. Prints the MOS-LQO.
"""
import sys
import wave

import numpy as np
from pesq import pesq


def read(path):
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2, path
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
        return data, w.getframerate()


def main():
    ref, fs = read(sys.argv[1])
    deg, fs_deg = read(sys.argv[2])
    mode = sys.argv[3]
    assert fs == fs_deg, "rates differ"
    n = 1
    while n < len(ref) + len(deg):
        n *= 2
    corr = np.fft.irfft(np.fft.rfft(deg, n) * np.conj(np.fft.rfft(ref, n)), n)
    lag = int(np.argmax(corr[: len(deg)]))
    aligned = deg[lag : lag + len(ref)]
    if len(aligned) < len(ref):
        aligned = np.concatenate([aligned, np.zeros(len(ref) - len(aligned))])
    score = pesq(fs, ref, aligned, mode)
    print(f"{score:.3f} lag_ms={1000.0 * lag / fs:.1f}")


if __name__ == "__main__":
    main()
