// See s3_client.h.
#include "s3_client.h"

#include <curl/curl.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string_view>

namespace eloqstore_test_support::s3
{
namespace
{
void GlobalInit()
{
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t Collect(char *data, size_t size, size_t n, void *user)
{
    static_cast<std::string *>(user)->append(data, size * n);
    return size * n;
}

// Finds the first <tag>...</tag> in xml at or after `from`: the raw text
// between the tags in *inner, and the position after the closing tag in
// *end. Enough for S3's responses (no attributes on the elements read).
bool Find(std::string_view xml,
          std::string_view tag,
          size_t from,
          std::string_view *inner,
          size_t *end)
{
    const std::string open = "<" + std::string(tag) + ">";
    const std::string close = "</" + std::string(tag) + ">";
    size_t b = xml.find(open, from);
    if (b == std::string_view::npos)
    {
        return false;
    }
    b += open.size();
    const size_t e = xml.find(close, b);
    if (e == std::string_view::npos)
    {
        return false;
    }
    *inner = xml.substr(b, e - b);
    *end = e + close.size();
    return true;
}

void AppendUtf8(std::string *out, unsigned long cp)
{
    if (cp < 0x80)
    {
        out->push_back(static_cast<char>(cp));
    }
    else if (cp < 0x800)
    {
        out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
        out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
    else if (cp < 0x10000)
    {
        out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
        out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
    else
    {
        out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
        out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
        out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
        out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
}

// XML character data with its entities decoded.
std::string DecodeText(std::string_view raw)
{
    std::string out;
    for (size_t i = 0; i < raw.size(); ++i)
    {
        const size_t semi = raw[i] == '&' ? raw.find(';', i) : std::string_view::npos;
        if (semi == std::string_view::npos)
        {
            out.push_back(raw[i]);
            continue;
        }
        const std::string_view ent = raw.substr(i + 1, semi - i - 1);
        if (ent == "amp")
            out.push_back('&');
        else if (ent == "lt")
            out.push_back('<');
        else if (ent == "gt")
            out.push_back('>');
        else if (ent == "quot")
            out.push_back('"');
        else if (ent == "apos")
            out.push_back('\'');
        else if (ent.size() > 1 && ent[0] == '#')
        {
            const bool hex = ent[1] == 'x' || ent[1] == 'X';
            const std::string digits(ent.substr(hex ? 2 : 1));
            AppendUtf8(&out, std::strtoul(digits.c_str(), nullptr, hex ? 16 : 10));
        }
        else
        {
            out.append(raw.substr(i, semi - i + 1));
        }
        i = semi;
    }
    return out;
}

// The decoded text of the first <tag> element of xml (empty if none).
std::string Text(std::string_view xml, std::string_view tag)
{
    std::string_view inner;
    size_t end = 0;
    return Find(xml, tag, 0, &inner, &end) ? DecodeText(inner) : std::string();
}

std::string DescribeFailure(long status, const std::string &body)
{
    const std::string code = Text(body, "Code");
    const std::string message = Text(body, "Message");
    std::string out = "HTTP " + std::to_string(status);
    if (!code.empty())
    {
        out += " " + code;
    }
    if (!message.empty())
    {
        out += ": " + message;
    }
    else if (code.empty() && !body.empty())
    {
        out += ": " + body.substr(0, 300);
    }
    return out;
}
}  // namespace

Client::Client(Endpoint endpoint) : endpoint_(std::move(endpoint))
{
    while (!endpoint_.url.empty() && endpoint_.url.back() == '/')
    {
        endpoint_.url.pop_back();
    }
    GlobalInit();
    curl_ = curl_easy_init();
    if (curl_ == nullptr)
    {
        throw std::runtime_error("curl_easy_init failed");
    }
}

Client::~Client()
{
    curl_easy_cleanup(static_cast<CURL *>(curl_));
}

std::string Client::UriEncode(const std::string &s, bool keep_slash)
{
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : s)
    {
        const auto c = static_cast<unsigned char>(ch);
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                (c >= '0' && c <= '9') || c == '-' ||
                                c == '_' || c == '.' || c == '~';
        if (unreserved || (keep_slash && c == '/'))
        {
            out.push_back(ch);
        }
        else
        {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

bool Client::Perform(const std::string &method,
                     const std::string &path_and_query,
                     const std::vector<std::string> &headers,
                     const std::string *body,
                     Response *resp,
                     std::string *error)
{
    CURL *curl = static_cast<CURL *>(curl_);
    curl_easy_reset(curl);
    const std::string url = endpoint_.url + path_and_query;
    const std::string sigv4 = "aws:amz:" + endpoint_.region + ":s3";
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
    curl_easy_setopt(curl, CURLOPT_USERNAME, endpoint_.access_key.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, endpoint_.secret_key.c_str());
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, endpoint_.verify_ssl ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, endpoint_.verify_ssl ? 2L : 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Collect);
    resp->body.clear();
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp->body);

    // Requests are sent with the payload unsigned (S3 accepts
    // UNSIGNED-PAYLOAD for every operation used here); the header is
    // signed like any other.
    struct curl_slist *list = nullptr;
    list = curl_slist_append(list, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    // No "Expect:" to suppress 100-continue: curl 7.88 would put the
    // removed header into SignedHeaders without sending it, and the server
    // would reject the signature.
    for (const std::string &h : headers)
    {
        list = curl_slist_append(list, h.c_str());
    }
    if (method == "GET")
    {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    }
    else
    {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
        if (method == "PUT" || method == "POST")
        {
            // libcurl reads the body during curl_easy_perform: it must
            // outlive this block (the caller's string, or a static one).
            static const std::string kNoBody;
            const std::string *payload = body != nullptr ? body : &kNoBody;
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload->data());
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                             static_cast<curl_off_t>(payload->size()));
            list = curl_slist_append(list, "Content-Type: application/octet-stream");
        }
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    const CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(list);
    if (rc != CURLE_OK)
    {
        *error = method + " " + url + ": " + curl_easy_strerror(rc);
        return false;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    return true;
}

bool Client::CreateBucket(const std::string &bucket, std::string *error)
{
    Response resp;
    const std::string empty;
    if (!Perform("PUT", "/" + UriEncode(bucket, false), {}, &empty, &resp, error))
    {
        return false;
    }
    if (resp.status == 200 ||
        (resp.status == 409 &&
         resp.body.find("BucketAlreadyOwnedByYou") != std::string::npos))
    {
        return true;
    }
    *error = "create bucket " + bucket + ": " + DescribeFailure(resp.status, resp.body);
    return false;
}

bool Client::Put(const std::string &bucket,
                 const std::string &key,
                 const std::string &body,
                 std::string *error)
{
    Response resp;
    const std::string path = "/" + UriEncode(bucket, false) + "/" + UriEncode(key, true);
    if (!Perform("PUT", path, {}, &body, &resp, error))
    {
        return false;
    }
    if (resp.status != 200)
    {
        *error = "put " + key + ": " + DescribeFailure(resp.status, resp.body);
        return false;
    }
    return true;
}

bool Client::Get(const std::string &bucket,
                 const std::string &key,
                 std::string *body,
                 std::string *error)
{
    Response resp;
    const std::string path = "/" + UriEncode(bucket, false) + "/" + UriEncode(key, true);
    if (!Perform("GET", path, {}, nullptr, &resp, error))
    {
        return false;
    }
    if (resp.status != 200)
    {
        *error = "get " + key + ": " + DescribeFailure(resp.status, resp.body);
        return false;
    }
    *body = std::move(resp.body);
    return true;
}

bool Client::Copy(const std::string &bucket,
                  const std::string &src_key,
                  const std::string &dst_key,
                  std::string *error)
{
    Response resp;
    const std::string path = "/" + UriEncode(bucket, false) + "/" + UriEncode(dst_key, true);
    const std::string source = "x-amz-copy-source: /" + UriEncode(bucket, false) +
                               "/" + UriEncode(src_key, true);
    const std::string empty;
    if (!Perform("PUT", path, {source}, &empty, &resp, error))
    {
        return false;
    }
    // A copy can fail after the 200 status line: the body is then an
    // <Error> document.
    if (resp.status != 200 || resp.body.find("<Error>") != std::string::npos)
    {
        *error = "copy " + src_key + " to " + dst_key + ": " +
                 DescribeFailure(resp.status, resp.body);
        return false;
    }
    return true;
}

bool Client::Delete(const std::string &bucket,
                    const std::string &key,
                    std::string *error)
{
    Response resp;
    const std::string path = "/" + UriEncode(bucket, false) + "/" + UriEncode(key, true);
    if (!Perform("DELETE", path, {}, nullptr, &resp, error))
    {
        return false;
    }
    if (resp.status != 204 && resp.status != 200)
    {
        *error = "delete " + key + ": " + DescribeFailure(resp.status, resp.body);
        return false;
    }
    return true;
}

bool Client::List(const std::string &bucket,
                  const std::string &prefix,
                  std::vector<Object> *out,
                  std::string *error,
                  int max_keys)
{
    std::string token;
    while (true)
    {
        // Query parameters in SigV4's canonical order (sorted by name), so
        // that the query string as sent is already the canonical one.
        std::string query;
        if (!token.empty())
        {
            query += "continuation-token=" + UriEncode(token, false) + "&";
        }
        query += "list-type=2";
        if (max_keys > 0)
        {
            query += "&max-keys=" + std::to_string(max_keys);
        }
        query += "&prefix=" + UriEncode(prefix, false);
        Response resp;
        if (!Perform("GET", "/" + UriEncode(bucket, false) + "?" + query, {},
                     nullptr, &resp, error))
        {
            return false;
        }
        if (resp.status != 200)
        {
            *error = "list " + bucket + "/" + prefix + ": " +
                     DescribeFailure(resp.status, resp.body);
            return false;
        }
        const std::string_view xml = resp.body;
        size_t pos = 0;
        std::string_view contents;
        while (Find(xml, "Contents", pos, &contents, &pos))
        {
            std::string_view key;
            std::string_view size;
            size_t unused = 0;
            if (!Find(contents, "Key", 0, &key, &unused) ||
                !Find(contents, "Size", 0, &size, &unused))
            {
                *error = "list " + bucket + ": an entry without Key or Size";
                return false;
            }
            Object obj;
            obj.key = DecodeText(key);
            obj.size = std::strtoull(std::string(size).c_str(), nullptr, 10);
            out->push_back(std::move(obj));
        }
        const std::string truncated = Text(xml, "IsTruncated");
        if (truncated != "true")
        {
            return true;
        }
        token = Text(xml, "NextContinuationToken");
        if (token.empty())
        {
            *error = "list " + bucket + ": truncated without a continuation token";
            return false;
        }
    }
}
}  // namespace eloqstore_test_support::s3
