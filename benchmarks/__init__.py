"""Benchmarks behind ``stm-keras bench``: model size and step time, input pipeline, preprocess.

Installed as ``stm_keras.benchmarks``; timing code lives here, never in the library modules.
"""
