"""Reading a team's table (`train --data`): CSV or Parquet, from a local path or an `s3://bucket/key` URI.

The format follows the name (`.csv`, `.csv.gz`, `.parquet`, `.pq`). S3 objects are read with boto3 (what MLflow's
own S3 artifact store uses) and its usual credential chain; the endpoint is `AWS_ENDPOINT_URL`, else
`MLFLOW_S3_ENDPOINT_URL` (an S3-compatible store such as MinIO or SeaweedFS), else AWS. Every failure is a
`DataError` that names `--data` and what to fix.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from training.tracking import LifecycleError

S3_TIMEOUT_S = 30.0
FORMATS = {".csv": "csv", ".gz": "csv", ".parquet": "parquet", ".pq": "parquet"}


class DataError(LifecycleError):
    """The `--data`/`--target` given cannot be trained on; the message names the flag and what to fix."""


def table_format(uri: str) -> str:
    name = urlsplit(uri).path if uri.startswith("s3://") else uri
    suffixes = Path(name).suffixes
    if name.lower().endswith(".csv.gz") or (suffixes and suffixes[-1].lower() in (".csv", ".parquet", ".pq")):
        return FORMATS[suffixes[-1].lower()]
    raise DataError(f"--data {uri}: cannot tell the format from the name; give a .csv, .csv.gz or .parquet file")


def read_table(uri: str) -> pd.DataFrame:
    fmt = table_format(uri)
    source: io.BytesIO | Path = _read_s3(uri) if uri.startswith("s3://") else _local(uri)
    try:
        if fmt == "csv":
            compression = "gzip" if uri.lower().endswith(".gz") else None
            return pd.read_csv(source, compression=compression)
        return pd.read_parquet(source)
    except pd.errors.EmptyDataError as e:
        raise DataError(f"--data {uri} is empty: no header, no rows") from e
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as e:
        # pyarrow's ArrowInvalid (not a Parquet file) is a ValueError; a bad gzip stream an OSError.
        raise DataError(f"--data {uri} is not a readable {fmt} file: {str(e).splitlines()[0]}") from e


def _local(uri: str) -> Path:
    path = Path(uri).expanduser()
    if not path.exists():
        raise DataError(f"--data {uri}: no such file")
    if not path.is_file():
        raise DataError(f"--data {uri} is not a file")
    return path


def _read_s3(uri: str) -> io.BytesIO:
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    parts = urlsplit(uri)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key:
        raise DataError(f"--data {uri}: an S3 URI is s3://<bucket>/<key>")
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None
    config = Config(connect_timeout=S3_TIMEOUT_S, read_timeout=S3_TIMEOUT_S, retries={"max_attempts": 3})
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, config=config)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        return io.BytesIO(body.read())
    except botocore.exceptions.ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            raise DataError(f"--data {uri}: no such object in bucket {bucket}") from e
        if code == "NoSuchBucket":
            raise DataError(f"--data {uri}: no such bucket {bucket!r}") from e
        raise DataError(f"--data {uri}: S3 refused the read ({code or e})") from e
    except botocore.exceptions.NoCredentialsError as e:
        raise DataError(f"--data {uri}: no AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile)") from e
    except botocore.exceptions.BotoCoreError as e:
        where = endpoint or "AWS S3"
        raise DataError(f"--data {uri}: cannot read it from {where}: {e}") from e
