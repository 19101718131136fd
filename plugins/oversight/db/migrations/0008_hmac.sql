-- Keyed pseudonyms (HMAC-SHA256) without pgcrypto: the embedded server (pgserver)
-- ships no pgcrypto, so HMAC is composed from the built-in sha256() (PostgreSQL 11+),
-- RFC 2104: HMAC(K, m) = H((K0 xor opad) || H((K0 xor ipad) || m)).
--
-- The key is never stored in the database: dbt passes it per session as the
-- setting oversight.pseudonym_key (from OVERSIGHT_PSEUDONYM_KEY, see oversight.dbt),
-- and the macro pseudonymise() computes the two padded keys once per query
-- (reference.hmac_key_pad, an uncorrelated scalar subquery) and two sha256 per value.

create or replace function reference.hmac_key_pad(key text, pad integer) returns bytea
language sql immutable strict parallel safe as $$
    with k as (
        select rpad(encode(case when octet_length(convert_to(key, 'UTF8')) > 64
                                then sha256(convert_to(key, 'UTF8'))
                                else convert_to(key, 'UTF8') end, 'hex'), 128, '0') as hex
    ),
    x as (
        select (('x' || substr(hex, 16 * i + 1, 16))::bit(64)
                # ('x' || repeat(lpad(to_hex(pad), 2, '0'), 8))::bit(64))::bigint as chunk, i
        from k, generate_series(0, 7) as i
    )
    select decode(string_agg(lpad(to_hex(chunk), 16, '0'), '' order by i), 'hex') from x
$$;

create or replace function reference.hmac_sha256(message text, key text) returns text
language sql immutable strict parallel safe as $$
    select encode(sha256(reference.hmac_key_pad(key, 92)
                         || sha256(reference.hmac_key_pad(key, 54) || convert_to(message, 'UTF8'))), 'hex')
$$;

comment on function reference.hmac_sha256(text, text) is
    'HMAC-SHA256(key, message) as lowercase hex (RFC 2104), for keyed pseudonyms of personal data.';
grant execute on function reference.hmac_key_pad(text, integer), reference.hmac_sha256(text, text)
    to oversight_transformer;
