"""Floor 2: BTF and the Python values it describes.

btf.py parses raw BTF; types.py turns each type into a Codec (encode, and a
decoder compiled once); records.py compiles the decoders that event readers
inline into their loops. All generated code of the library lives here.
Imports only the kernel floor.
"""
