"""The synthetic demo world: scenes of moving, sounding objects (``scene``) written as
AVSBench datasets in the official layout (``dataset``).
"""
