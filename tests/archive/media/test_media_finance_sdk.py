"""The ctypes binding of GetMediaData against a stand-in library compiled from C with the SDK
header's signatures (the real libWeWorkFinanceSdk_C.so is proprietary and not shipped): chunks
follow outindexbuf until is_finish, NUL bytes survive, an unknown fileid is 10005."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from haina.archive.finance_sdk import FinanceSdk
from haina.archive.media.service import MediaFetchError, fetch_media
from haina.archive.sources import MediaSource
from haina.platforms.wecom.errors import ArchiveSdkError

SOURCE = Path(__file__).parent / "fixtures" / "fake_finance_sdk.c"
EXPECTED = bytes((i * 7) % 251 for i in range(1_200_000))


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the stand-in SDK library")
    target = tmp_path_factory.mktemp("sdk") / "libFakeFinanceSdk.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(target), str(SOURCE)], check=True)
    return target


def test_get_media_data_loops_until_finished(library: Path) -> None:
    sdk = FinanceSdk("wwcorp", "secret", path=str(library))
    try:
        assert isinstance(sdk, MediaSource)
        first = sdk.get_media_data("file-1", "")
        assert (len(first.data), first.outindexbuf, first.is_finish) == (512 * 1024, "524288", False)
        assert b"\x00" in first.data  # read by length, not as a C string
        data = fetch_media(sdk, "file-1", len(EXPECTED), hashlib.md5(EXPECTED).hexdigest(), max_bytes=10**7)
        assert data == EXPECTED
        assert sdk.media("file-1") == EXPECTED
        with pytest.raises(ArchiveSdkError) as unknown:
            sdk.get_media_data("nope", "")
        assert unknown.value.code == 10005
        with pytest.raises(MediaFetchError) as failed:
            fetch_media(sdk, "nope", 0, "", max_bytes=10**7)
        assert failed.value.is_final
    finally:
        sdk.close()
