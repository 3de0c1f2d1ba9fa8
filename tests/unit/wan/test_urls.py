import base64
import ipaddress

import pytest

from bot.wan.urls import check_input_url, forbidden_host_reason, is_public_ip

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 32).decode()


@pytest.mark.parametrize("url", [
    "http://example.com/a.png",
    "file:///etc/passwd",
    "ftp://example.com/a.png",
    "javascript:alert(1)",
    "https://",
    "https:///a.png",
    "example.com/a.png",
    "https://user@example.com/a.png",
    "https://user:pw@example.com/a.png",
    "https://localhost/a.png",
    "https://LOCALHOST./a.png",
    "https://api.localhost/a.png",
    "https://printer.local/a.png",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://10.0.0.5/a.png",
    "https://172.16.3.4/a.png",
    "https://192.168.1.1/a.png",
    "https://127.0.0.1:8443/a.png",
    "https://169.254.169.254/latest/meta-data/",
    "https://100.64.0.1/a.png",
    "https://0.0.0.0/a.png",
    "https://224.0.0.1/a.png",
    "https://[::1]/a.png",
    "https://[::]/a.png",
    "https://[fe80::1]/a.png",
    "https://[fc00::1]/a.png",
    "https://[fec0::1]/a.png",
    "https://[::ffff:127.0.0.1]/a.png",
    "https://[::ffff:10.0.0.1]/a.png",
    "https://[64:ff9b::10.0.0.1]/a.png",
    "https://[2002:c0a8:101::]/a.png",
    "https://2130706433/a.png",
    "https://0x7f000001/a.png",
    "https://017700000001/a.png",
    "https://127.1/a.png",
    "https://0177.0.0.1/a.png",
    "https://999.1.1.1/a.png",
    "https://example.com:99999/a.png",
    "https://exa mple.com/a.png",
    "https://example.com\\@10.0.0.1/a.png",
    "",
])
def test_unsafe_or_non_https_urls_are_refused_with_what_is_allowed(url):
    with pytest.raises(ValueError, match="must be an https:// URL"):
        check_input_url(url, field="video_url")


@pytest.mark.parametrize("url", [
    "https://example.com/a.png",
    "https://cdn.example.com:8443/path/a.png?sig=abc&x=1#frag",
    "https://8.8.8.8/a.png",
    "https://[2606:4700:4700::1111]/a.png",
    "https://[::ffff:8.8.8.8]/a.png",
    "  https://example.com/a.png  ",
])
def test_public_https_urls_pass(url):
    assert check_input_url(url, field="video_url") == url.strip()


def test_data_image_only_where_allowed():
    uri = f"data:image/png;base64,{PNG}"
    assert check_input_url(uri, field="image_url", allow_data_image=True) == uri
    with pytest.raises(ValueError, match="only for an image"):
        check_input_url(uri, field="video_url")


def test_data_image_size_cap_and_content_checked():
    big = base64.b64encode(b"\0" * 2048).decode()
    with pytest.raises(ValueError, match="at most"):
        check_input_url(f"data:image/png;base64,{big}", field="image_url", allow_data_image=True,
                        max_data_bytes=1024)
    with pytest.raises(ValueError, match="base64"):
        check_input_url("data:image/png;base64,not*base64!", field="image_url", allow_data_image=True)
    with pytest.raises(ValueError, match="data:image"):
        check_input_url(f"data:text/html;base64,{PNG}", field="image_url", allow_data_image=True)
    with pytest.raises(ValueError, match="data:image"):
        check_input_url(f"data:image/svg+xml;base64,{PNG}", field="image_url", allow_data_image=True)


def test_default_data_cap_is_ten_megabytes():
    just_over = base64.b64encode(b"\0" * (10 * 1024 * 1024 + 1)).decode()
    with pytest.raises(ValueError, match="10 MB"):
        check_input_url(f"data:image/jpeg;base64,{just_over}", field="image_url", allow_data_image=True)
    at_cap = base64.b64encode(b"\0" * (10 * 1024 * 1024)).decode()
    check_input_url(f"data:image/jpeg;base64,{at_cap}", field="image_url", allow_data_image=True)


@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True), ("1.1.1.1", True), ("2606:4700::1", True),
    ("10.1.2.3", False), ("100.100.100.100", False), ("127.0.0.1", False), ("169.254.1.1", False),
    ("192.0.2.1", False), ("198.18.0.1", False), ("240.0.0.1", False), ("255.255.255.255", False),
    ("::1", False), ("::", False), ("ff02::1", False), ("fe80::1", False), ("fd00::1", False),
    ("fec0::1", False), ("2001:db8::1", False), ("::ffff:192.168.0.1", False), ("::ffff:8.8.8.8", True),
    ("2002:0a00:0001::", False), ("64:ff9b::7f00:1", False), ("64:ff9b::808:808", True), ("::10.0.0.1", False),
])
def test_is_public_ip(address, public):
    assert is_public_ip(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize("host", ["example.com", "8.8.8.8", "[2606:4700::1]", "xn--bcher-kva.example"])
def test_acceptable_hosts_have_no_reason(host):
    assert forbidden_host_reason(host) is None


@pytest.mark.parametrize("host", ["localhost", "a.b.localhost", "box.local", "db.internal", "2130706433",
                                  "0x7f.1", "127.1", "[::ffff:10.0.0.1]", "", "10.0.0.1."])
def test_forbidden_hosts_have_a_reason(host):
    assert forbidden_host_reason(host)


# Issue 14 item 8: hosts in Unicode that resolvers normalise (IDNA / NFKC) to local addresses.
@pytest.mark.parametrize("url", [
    "https://１２７.０.０.１/a.png",                 # fullwidth digits
    "https://①②⑦.⓪.⓪.①/a.png",                     # circled digits
    "https://𝟏𝟐𝟕.𝟎.𝟎.𝟏/a.png",                     # mathematical bold digits
    "https://１６９.２５４.１６９.２５４/latest/meta-data/",
    "https://⑯⑨.②⑤④.⑯⑨.②⑤④/latest/meta-data/",   # circled two-digit numbers
    "https://ｌｏｃａｌｈｏｓｔ/a.png",              # fullwidth letters
    "https://ＬＯＣＡＬＨＯＳＴ/a.png",
    "https://ａｐｉ.ｌｏｃａｌｈｏｓｔ/a.png",
    "https://127。0。0。1/a.png",                     # ideographic full stops
    "https://１０．０．０．５/a.png",                 # fullwidth full stops
    "https://[::ｆｆｆｆ:127.0.0.1]/a.png",
    "https://１２７.１/a.png",                        # a short numeric form, in fullwidth
    "https://ｍｅｔａｄａｔａ.ｇｏｏｇｌｅ.ｉｎｔｅｒｎａｌ/computeMetadata/v1/",
])
def test_unicode_spellings_of_local_hosts_are_refused(url):
    with pytest.raises(ValueError, match="must be an https:// URL"):
        check_input_url(url, field="image_url")


def test_a_unicode_host_is_sent_as_the_checked_ascii_name():
    # The gateway fetches exactly the name that was checked, not its own reading of the Unicode.
    assert check_input_url("https://ｅｘａｍｐｌｅ.com/a.png", field="image_url") == "https://example.com/a.png"
    assert check_input_url("https://bücher.example:8443/a.png?x=1", field="image_url") == \
        "https://xn--bcher-kva.example:8443/a.png?x=1"
