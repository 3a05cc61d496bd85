#include "dns/dns_message.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ringpost::dns {
namespace {

class Reader {
 public:
  explicit Reader(absl::string_view message) : message_(message) {}

  bool U8(uint8_t* out) {
    if (offset_ + 1 > message_.size()) return false;
    *out = static_cast<uint8_t>(message_[offset_++]);
    return true;
  }
  bool U16(uint16_t* out) {
    if (offset_ + 2 > message_.size()) return false;
    *out = static_cast<uint16_t>(Byte(offset_) << 8 | Byte(offset_ + 1));
    offset_ += 2;
    return true;
  }
  bool U32(uint32_t* out) {
    uint16_t high, low;
    if (!U16(&high) || !U16(&low)) return false;
    *out = static_cast<uint32_t>(high) << 16 | low;
    return true;
  }
  bool Skip(size_t bytes) {
    if (offset_ + bytes > message_.size()) return false;
    offset_ += bytes;
    return true;
  }
  // A possibly compressed name starting here (RFC 1035 §4.1.4); the reader moves past
  // its in-place part. Pointers must point before the label they are found at, so
  // every jump goes strictly backwards; a walk that still circles (labels, then a
  // pointer back before them) ends at the hop and length bounds.
  bool Name(std::string* out) { return NameAt(offset_, out, /*advance=*/true); }
  bool NameAt(size_t start, std::string* out, bool advance) {
    out->clear();
    size_t at = start;
    bool jumped = false;
    size_t wire_bytes = 0;
    for (int hops = 0;; ++hops) {
      if (at >= message_.size() || hops > 128) return false;
      const uint8_t length = Byte(at);
      if ((length & 0xC0) == 0xC0) {
        if (at + 2 > message_.size()) return false;
        const size_t target = static_cast<size_t>(length & 0x3F) << 8 | Byte(at + 1);
        if (target >= at) return false;  // forwards or onto itself: a loop
        if (!jumped && advance) offset_ = at + 2;
        jumped = true;
        at = target;
        continue;
      }
      if ((length & 0xC0) != 0) return false;  // 0x40 and 0x80 label types are obsolete
      if (length == 0) {
        if (!jumped && advance) offset_ = at + 1;
        break;
      }
      if (at + 1 + length > message_.size()) return false;
      wire_bytes += length + 1;
      if (wire_bytes + 1 > kNameBytesMax) return false;
      if (!out->empty()) out->push_back('.');
      out->append(message_.data() + at + 1, length);
      at += 1 + length;
    }
    absl::AsciiStrToLower(out);
    return true;
  }
  size_t offset() const { return offset_; }
  void set_offset(size_t offset) { offset_ = offset; }

 private:
  uint32_t Byte(size_t at) const { return static_cast<uint8_t>(message_[at]); }
  absl::string_view message_;
  size_t offset_ = 0;
};

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("malformed DNS answer: ", what));
}

}  // namespace

absl::StatusOr<DnsAnswer> ParseDnsAnswer(absl::string_view message) {
  if (message.size() > kDnsMessageBytesMax) return Malformed("too long");
  Reader in(message);
  DnsAnswer answer;
  uint16_t flags, qdcount, ancount, nscount, arcount;
  if (!in.U16(&answer.id) || !in.U16(&flags) || !in.U16(&qdcount) || !in.U16(&ancount) || !in.U16(&nscount) ||
      !in.U16(&arcount)) {
    return Malformed("short header");
  }
  if ((flags & 0x8000) == 0) return Malformed("not a response");
  answer.truncated = (flags & 0x0200) != 0;
  const uint8_t rcode = flags & 0x000F;
  if (rcode > static_cast<uint8_t>(Rcode::kRefused)) return Malformed("unknown rcode");
  answer.rcode = static_cast<Rcode>(rcode);
  if (qdcount != 1) return Malformed("question count is not 1");
  uint16_t qclass;
  if (!in.Name(&answer.question) || !in.U16(&answer.question_type) || !in.U16(&qclass)) {
    return Malformed("bad question");
  }
  const size_t records = static_cast<size_t>(ancount) + nscount + arcount;
  if (records > kRecordsMax) return Malformed("too many records");
  for (size_t i = 0; i < records; ++i) {
    const bool in_answer = i < ancount;
    const bool in_authority = !in_answer && i < static_cast<size_t>(ancount) + nscount;
    std::string owner;
    uint16_t type, klass, rdlength;
    uint32_t ttl;
    if (!in.Name(&owner) || !in.U16(&type) || !in.U16(&klass) || !in.U32(&ttl) || !in.U16(&rdlength)) {
      return Malformed("bad record header");
    }
    const size_t rdata = in.offset();
    if (!in.Skip(rdlength)) return Malformed("record data past the end");
    if (ttl > 0x7FFFFFFF) ttl = 0;  // RFC 2181 §8: a TTL with the top bit set means zero
    if (klass != 1) continue;       // IN only
    Reader field(message);
    field.set_offset(rdata);
    switch (static_cast<RecordType>(type)) {
      case RecordType::kMx: {
        if (!in_answer) break;
        MxRecord mx;
        mx.ttl = ttl;
        if (!field.U16(&mx.preference) || !field.Name(&mx.exchange) || field.offset() != rdata + rdlength) {
          return Malformed("bad MX");
        }
        if (answer.mx.size() < kRecordsPerTypeMax) answer.mx.push_back(std::move(mx));
        break;
      }
      case RecordType::kA:
      case RecordType::kAaaa: {
        if (in_authority) break;  // glue in the additional section is kept, for MX hosts
        const bool ipv6 = static_cast<RecordType>(type) == RecordType::kAaaa;
        if (rdlength != (ipv6 ? 16 : 4)) return Malformed("bad address length");
        char text[INET6_ADDRSTRLEN] = {};
        inet_ntop(ipv6 ? AF_INET6 : AF_INET, message.data() + rdata, text, sizeof(text));
        if (answer.addresses.size() < kRecordsPerTypeMax) {
          answer.addresses.push_back(AddressRecord{owner, text, ipv6, ttl, in_answer});
        }
        break;
      }
      case RecordType::kCname: {
        if (!in_answer) break;
        CnameRecord cname;
        cname.name = owner;
        cname.ttl = ttl;
        if (!field.Name(&cname.target) || field.offset() != rdata + rdlength) return Malformed("bad CNAME");
        if (answer.cnames.size() < kRecordsPerTypeMax) answer.cnames.push_back(std::move(cname));
        break;
      }
      case RecordType::kTxt: {
        if (!in_answer) break;
        TxtRecord txt;
        txt.ttl = ttl;
        for (size_t at = rdata; at < rdata + rdlength;) {  // <length><bytes>, repeated
          const size_t length = static_cast<uint8_t>(message[at]);
          if (at + 1 + length > rdata + rdlength) return Malformed("bad TXT");
          txt.text.append(message.data() + at + 1, length);
          at += 1 + length;
        }
        if (answer.txt.size() < kRecordsPerTypeMax) answer.txt.push_back(std::move(txt));
        break;
      }
      case RecordType::kSoa: {
        if (!in_authority) break;
        std::string mname, rname;
        uint32_t serial, refresh, retry, expire, minimum;
        if (!field.Name(&mname) || !field.Name(&rname) || !field.U32(&serial) || !field.U32(&refresh) ||
            !field.U32(&retry) || !field.U32(&expire) || !field.U32(&minimum) ||
            field.offset() != rdata + rdlength) {
          return Malformed("bad SOA");
        }
        answer.negative_ttl = std::min(ttl, minimum > 0x7FFFFFFF ? 0u : minimum);
        break;
      }
      default:
        break;
    }
  }
  if (in.offset() != message.size()) return Malformed("trailing bytes");
  return answer;
}

uint32_t MinimumTtl(const DnsAnswer& answer) {
  uint32_t ttl = UINT32_MAX;
  for (const MxRecord& r : answer.mx) ttl = std::min(ttl, r.ttl);
  for (const AddressRecord& r : answer.addresses) ttl = std::min(ttl, r.ttl);
  for (const CnameRecord& r : answer.cnames) ttl = std::min(ttl, r.ttl);
  for (const TxtRecord& r : answer.txt) ttl = std::min(ttl, r.ttl);
  return ttl == UINT32_MAX ? 0 : ttl;
}

}  // namespace ringpost::dns
