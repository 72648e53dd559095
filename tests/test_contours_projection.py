"""The contours' projections built from PROJ definitions are the operations PROJ itself chooses."""

import numpy as np
import pytest
from pyproj import Transformer

from sources.contours import LAMBERT_93, OVERSEAS_CRS, PIPELINES


def test_every_staged_crs_has_its_definition():
    assert set(PIPELINES) == {LAMBERT_93, *OVERSEAS_CRS.values()}


@pytest.mark.parametrize("epsg", sorted(PIPELINES))
def test_each_definition_is_the_operation_proj_chooses(epsg):
    chosen = Transformer.from_crs(4326, epsg, always_xy=True)
    assert PIPELINES[epsg] == chosen.definition
    lon, lat = np.linspace(-62.0, 56.0, 50), np.linspace(-22.0, 51.0, 50)
    ours = Transformer.from_pipeline(PIPELINES[epsg]).transform(lon, lat)
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(ours, chosen.transform(lon, lat), strict=True))
