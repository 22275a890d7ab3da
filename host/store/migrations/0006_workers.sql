-- Worker processes as they last reported themselves: each running worker writes its row once per
-- lease-renewal period and deletes it when it stops. `keel start` reads it to say when no worker
-- runs; `keel workers` lists it. Rows of workers that died without stopping age out after a day.
CREATE TABLE workers (
    owner      TEXT PRIMARY KEY NOT NULL,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    version    TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    seen_ms    INTEGER NOT NULL
);
