"""Code similarity across submissions of one assignment, MOSS-style.

normalize: a graded function's AST with identifiers renamed, docstrings dropped and commutative
  operands put in a canonical order, as a token stream that remembers source lines;
fingerprint: winnowed k-gram hashes of that stream;
compare: pairs of submissions sharing rare fingerprints, after discounting what the stub, the
  course's given code, the reference solution and much of the class have in common.
"""
