"""Every name exported by jaxrec.data exists and is documented."""

import jaxrec.data


def test_exports_have_docstrings():
  for name in jaxrec.data.__all__:
    obj = getattr(jaxrec.data, name)
    assert obj.__doc__ and obj.__doc__.strip(), name
