-- Which platform manifests each index lists. A manifest can be listed by several
-- indexes and also be tagged on its own (base:12 is the amd64 member of multi:1),
-- so membership is a table of its own; analyses.parent stays as the index that
-- first listed the manifest.
CREATE TABLE index_members (
    index_digest  TEXT NOT NULL,
    member_digest TEXT NOT NULL REFERENCES analyses (digest) ON DELETE CASCADE,
    platform      TEXT NOT NULL DEFAULT '',  -- os/arch[/variant] as the index lists it
    PRIMARY KEY (index_digest, member_digest)
);
CREATE INDEX index_members_member ON index_members (member_digest);

-- Backfill 1: the one parent version 1 recorded per manifest.
INSERT INTO index_members (index_digest, member_digest, platform)
    SELECT parent, digest, platform FROM analyses WHERE parent != '';

-- Backfill 2: the memberships version 1 lost. An analysed index's metadata.json
-- lists every platform manifest ("platforms": [{"digest", "platform": {"os",
-- "architecture", "variant"}}]). Documents that are not valid JSON are ignored.
WITH listed AS (
    SELECT r.digest AS index_digest, CASE WHEN p.type = 'object' THEN p.value END AS ref
    FROM results r,
         json_each(CASE WHEN json_valid(CAST(r.metadata AS TEXT)) THEN CAST(r.metadata AS TEXT) ELSE '{}' END, '$.platforms') p
)
INSERT OR IGNORE INTO index_members (index_digest, member_digest, platform)
    SELECT index_digest, json_extract(ref, '$.digest'),
           CASE WHEN coalesce(json_extract(ref, '$.platform.os'), '') = '' THEN ''
                ELSE json_extract(ref, '$.platform.os') || '/' || coalesce(json_extract(ref, '$.platform.architecture'), '')
                     || CASE WHEN coalesce(json_extract(ref, '$.platform.variant'), '') = '' THEN ''
                             ELSE '/' || json_extract(ref, '$.platform.variant') END
           END
    FROM listed
    WHERE json_extract(ref, '$.digest') IN (SELECT digest FROM analyses);

-- Backfill 3: version 1 kept a platform for index members only; a single-platform
-- image's is in its metadata.json ("platform": {"os", "architecture", "variant"}).
WITH md AS (
    SELECT digest, CAST(metadata AS TEXT) AS doc FROM results WHERE json_valid(CAST(metadata AS TEXT))
)
UPDATE analyses SET platform = (
    SELECT CASE WHEN coalesce(json_extract(md.doc, '$.platform.os'), '') = '' THEN ''
                ELSE json_extract(md.doc, '$.platform.os') || '/' || coalesce(json_extract(md.doc, '$.platform.architecture'), '')
                     || CASE WHEN coalesce(json_extract(md.doc, '$.platform.variant'), '') = '' THEN ''
                             ELSE '/' || json_extract(md.doc, '$.platform.variant') END
           END
    FROM md WHERE md.digest = analyses.digest)
WHERE platform = '' AND digest IN (SELECT digest FROM md);
