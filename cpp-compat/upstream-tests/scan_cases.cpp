// Reads one Catch2 test file for the upstream test harness
// (cmake/eloqstore_upstream_tests.cmake), which builds this program at
// configure time:
//
//   scan_cases IN OUT [EXCLUDED]
//
// prints, one per line,
//   case<TAB>NAME        each TEST_CASE, in file order
//   include<TAB>PATH     each #include "PATH"
//   other<TAB>MACRO      another Catch2 registration macro (not supported)
// and writes OUT: IN with the whole TEST_CASE(...) { ... } of every case
// named in the file EXCLUDED (one name a line) replaced by a comment naming
// it and its newlines, so the rest keeps its line numbers. Comments, string and character
// literals (raw strings too) are skipped. Exits 2 if an excluded name is
// not a case of IN, 1 on other errors.
#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace
{
struct Scanner
{
    const std::string &src;
    size_t pos{0};

    bool AtEnd() const
    {
        return pos >= src.size();
    }

    bool IsIdent(char c) const
    {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c >= '0' && c <= '9') || c == '_';
    }

    // Skips the raw string literal whose opening quote is at `quote`.
    void SkipRaw(size_t quote)
    {
        const size_t open = src.find('(', quote + 1);
        if (open == std::string::npos)
        {
            pos = src.size();
            return;
        }
        const std::string close =
            ")" + src.substr(quote + 1, open - quote - 1) + "\"";
        const size_t end = src.find(close, open + 1);
        pos = end == std::string::npos ? src.size() : end + close.size();
    }

    // Skips a comment, string or character literal starting at pos; false
    // when there is none. (Raw strings are found by the identifier before
    // them, see main.)
    bool SkipNonCode()
    {
        if (src.compare(pos, 2, "//") == 0)
        {
            while (!AtEnd() && src[pos] != '\n')
            {
                // A backslash-newline continues the comment.
                pos += (src[pos] == '\\' && pos + 1 < src.size()) ? 2 : 1;
            }
            return true;
        }
        if (src.compare(pos, 2, "/*") == 0)
        {
            const size_t end = src.find("*/", pos + 2);
            pos = end == std::string::npos ? src.size() : end + 2;
            return true;
        }
        if (src[pos] == '"' || src[pos] == '\'')
        {
            // A digit separator (1'000) is not a character literal.
            if (src[pos] == '\'' && pos > 0 && std::isxdigit(src[pos - 1]) &&
                pos + 1 < src.size() && std::isxdigit(src[pos + 1]))
            {
                return false;
            }
            const char quote = src[pos++];
            while (!AtEnd() && src[pos] != quote && src[pos] != '\n')
            {
                pos += src[pos] == '\\' ? 2 : 1;
            }
            ++pos;
            return true;
        }
        return false;
    }

    void SkipSpaceAndComments()
    {
        while (!AtEnd())
        {
            if (std::isspace(static_cast<unsigned char>(src[pos])))
            {
                ++pos;
            }
            else if (src.compare(pos, 2, "//") == 0 ||
                     src.compare(pos, 2, "/*") == 0)
            {
                SkipNonCode();
            }
            else
            {
                break;
            }
        }
    }

    // Parses one or more adjacent string literals at pos into *out.
    bool ReadStringLiteral(std::string *out)
    {
        bool any = false;
        out->clear();
        while (true)
        {
            SkipSpaceAndComments();
            if (AtEnd() || src[pos] != '"')
            {
                return any;
            }
            ++pos;
            while (!AtEnd() && src[pos] != '"')
            {
                char c = src[pos++];
                if (c == '\\' && !AtEnd())
                {
                    const char e = src[pos++];
                    switch (e)
                    {
                    case 'n':
                        c = '\n';
                        break;
                    case 't':
                        c = '\t';
                        break;
                    default:
                        c = e;
                    }
                }
                out->push_back(c);
            }
            ++pos;
            any = true;
        }
    }

    // From an opening bracket at pos, moves past its matching close.
    bool SkipBalanced(char open, char close)
    {
        int depth = 0;
        while (!AtEnd())
        {
            if (SkipNonCode())
            {
                continue;
            }
            const char c = src[pos++];
            if (c == open)
            {
                ++depth;
            }
            else if (c == close && --depth == 0)
            {
                return true;
            }
        }
        return false;
    }
};

const char *const kOtherMacros[] = {
    "TEST_CASE_METHOD",           "SCENARIO",
    "TEMPLATE_TEST_CASE",         "TEMPLATE_PRODUCT_TEST_CASE",
    "TEMPLATE_LIST_TEST_CASE",    "METHOD_AS_TEST_CASE",
    "TEMPLATE_TEST_CASE_SIG",     "TEMPLATE_TEST_CASE_METHOD",
    "REGISTER_TEST_CASE",
};
}  // namespace

int main(int argc, char **argv)
{
    if (argc < 3)
    {
        std::cerr << "usage: scan_cases IN OUT [EXCLUDED]\n";
        return 1;
    }
    std::ifstream in(argv[1], std::ios::binary);
    if (!in)
    {
        std::cerr << "cannot read " << argv[1] << "\n";
        return 1;
    }
    const std::string src((std::istreambuf_iterator<char>(in)),
                          std::istreambuf_iterator<char>());
    std::set<std::string> excluded;
    if (argc > 3)
    {
        std::ifstream ex(argv[3]);
        for (std::string line; std::getline(ex, line);)
        {
            if (!line.empty())
            {
                excluded.insert(line);
            }
        }
    }

    struct Range
    {
        size_t begin;
        size_t end;
        std::string name;
    };
    std::vector<Range> blanked;
    std::set<std::string> found;
    Scanner sc{src};
    bool line_start = true;
    while (!sc.AtEnd())
    {
        const char c = src[sc.pos];
        if (c == '\n')
        {
            line_start = true;
            ++sc.pos;
            continue;
        }
        if (line_start && c == '#')
        {
            // A preprocessor line (with its continuations): report
            // #include "...".
            size_t end = src.find('\n', sc.pos);
            while (end != std::string::npos && end > 0 && src[end - 1] == '\\')
            {
                end = src.find('\n', end + 1);
            }
            end = end == std::string::npos ? src.size() : end;
            const std::string line = src.substr(sc.pos, end - sc.pos);
            size_t p = line.find_first_not_of(" \t", 1);
            if (p != std::string::npos && line.compare(p, 7, "include") == 0)
            {
                const size_t q1 = line.find('"', p + 7);
                const size_t lt = line.find('<', p + 7);
                if (q1 != std::string::npos &&
                    (lt == std::string::npos || q1 < lt))
                {
                    const size_t q2 = line.find('"', q1 + 1);
                    if (q2 != std::string::npos)
                    {
                        std::cout << "include\t"
                                  << line.substr(q1 + 1, q2 - q1 - 1) << "\n";
                    }
                }
            }
            sc.pos = end;
            continue;
        }
        if (std::isspace(static_cast<unsigned char>(c)))
        {
            ++sc.pos;
            continue;
        }
        line_start = false;
        if (sc.SkipNonCode())
        {
            continue;
        }
        if (!sc.IsIdent(c))
        {
            ++sc.pos;
            continue;
        }
        // An identifier.
        const size_t start = sc.pos;
        while (!sc.AtEnd() && sc.IsIdent(src[sc.pos]))
        {
            ++sc.pos;
        }
        const std::string ident = src.substr(start, sc.pos - start);
        if ((ident == "R" || ident == "LR" || ident == "uR" || ident == "UR" ||
             ident == "u8R") &&
            !sc.AtEnd() && src[sc.pos] == '"')
        {
            sc.SkipRaw(sc.pos);
            continue;
        }
        for (const char *m : kOtherMacros)
        {
            if (ident == m)
            {
                std::cout << "other\t" << ident << "\n";
            }
        }
        if (ident != "TEST_CASE")
        {
            continue;
        }
        sc.SkipSpaceAndComments();
        if (sc.AtEnd() || src[sc.pos] != '(')
        {
            continue;  // not a use of the macro
        }
        const size_t paren = sc.pos;
        ++sc.pos;
        std::string name;
        if (!sc.ReadStringLiteral(&name))
        {
            std::cerr << argv[1] << ": TEST_CASE without a literal name\n";
            return 1;
        }
        sc.pos = paren;
        if (!sc.SkipBalanced('(', ')'))
        {
            std::cerr << argv[1] << ": unbalanced TEST_CASE(\n";
            return 1;
        }
        sc.SkipSpaceAndComments();
        if (sc.AtEnd() || src[sc.pos] != '{' || !sc.SkipBalanced('{', '}'))
        {
            std::cerr << argv[1] << ": no body after TEST_CASE(\"" << name
                      << "\")\n";
            return 1;
        }
        std::cout << "case\t" << name << "\n";
        if (excluded.count(name) != 0)
        {
            found.insert(name);
            blanked.push_back({start, sc.pos, name});
        }
    }

    // The excluded cases become a comment naming them, then their newlines.
    std::string out;
    size_t copied = 0;
    for (const Range &r : blanked)
    {
        out.append(src, copied, r.begin - copied);
        std::string note = r.name;
        for (size_t p; (p = note.find("*/")) != std::string::npos;)
        {
            note.replace(p, 2, "* /");
        }
        out += "/* upstream-tests: excluded case \"" + note +
               "\" (see the exclusion list) */";
        for (size_t i = r.begin; i < r.end; ++i)
        {
            if (src[i] == '\n')
            {
                out.push_back('\n');
            }
        }
        copied = r.end;
    }
    out.append(src, copied, std::string::npos);

    std::ofstream of(argv[2], std::ios::binary | std::ios::trunc);
    of << out;
    if (!of)
    {
        std::cerr << "cannot write " << argv[2] << "\n";
        return 1;
    }
    int rc = 0;
    for (const std::string &name : excluded)
    {
        if (found.count(name) == 0)
        {
            std::cerr << argv[1] << ": excluded case \"" << name
                      << "\" is not in the file\n";
            rc = 2;
        }
    }
    return rc;
}
