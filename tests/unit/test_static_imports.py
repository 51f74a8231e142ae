"""``assets.load_assets``: a module's imports of its neighbours point at their hashed
URLs, so a change to an imported module changes the importer's URL too."""

from __future__ import annotations

from pathlib import Path

import pytest

from liveblog.web.assets import load_assets


def test_an_import_names_the_neighbours_hashed_url_and_moves_the_importers(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.js").write_text('import { b } from "./b.js";\nb();\n')
    (tmp_path / "b.js").write_text("export const b = () => 1;\n")
    first = load_assets(tmp_path)
    assert first["a.js"].body.decode().startswith(f'import {{ b }} from "{first["b.js"].url}"')

    (tmp_path / "b.js").write_text("export const b = () => 2;\n")
    second = load_assets(tmp_path)
    assert second["b.js"].url != first["b.js"].url
    assert second["a.js"].url != first["a.js"].url  # a.js itself did not change


def test_modules_that_import_each_other_in_a_cycle_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text('import "./b.js";\nexport { x } from "./b.js";\n')
    (tmp_path / "b.js").write_text('export { y } from "./a.js";\n')
    with pytest.raises(ValueError, match="cycle"):
        load_assets(tmp_path)
