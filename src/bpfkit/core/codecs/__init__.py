"""Floor 2: BTF and the Python values it describes.

btf.py parses raw BTF; types.py turns each type into a Codec (encode, and a
decoder compiled once) and compiles the record decoders that event readers
inline into their loops: all generated code of the library lives there.
Imports only the kernel floor.
"""
