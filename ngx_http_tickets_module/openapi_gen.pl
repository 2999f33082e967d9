#!/usr/bin/perl
# Build step: docs/openapi.yaml -> the JSON the tests read and the C source
# the module serves it from.
#
#   perl openapi_gen.pl docs/openapi.yaml build/openapi.json \
#       build/ngx_http_tickets_openapi_doc.c
#
# The C source holds the document as two byte arrays, before and after the
# servers URL (which the module fills in per request), and a tag of the
# document for the ETag.  YAML::XS is Debian's libyaml-libyaml-perl.

use strict;
use warnings;

use Digest::SHA qw(sha1_hex);
use JSON::PP;
use YAML::XS ();

my ($in, $json_out, $c_out) = @ARGV;
die "usage: $0 openapi.yaml out.json out.c\n" unless $c_out;

$YAML::XS::Boolean = 'JSON::PP';
my $doc = YAML::XS::LoadFile($in);

die "$in: not an OpenAPI 3.1 document\n"
    unless ref $doc eq 'HASH' && ($doc->{openapi} // '') =~ /^3\.1\./;

my $json = JSON::PP->new->canonical->utf8;

write_file($json_out, $json->pretty->encode($doc));
$json->pretty(0);

# the served copy: one server, its URL filled in by the module
my $mark = '@@TICKETS_OPENAPI_SERVER_URL@@';
my %served = %$doc;
$served{servers} = [{ url => $mark,
    description => 'The server that answered this request.' }];
my $text = $json->encode(\%served);
my @parts = split /\Q$mark\E/, $text, -1;
die "the server URL mark is not in the document once\n" unless @parts == 2;

my $tag = substr sha1_hex($text), 0, 16;

my $c = "/* Generated from $in by $0: do not edit. */\n\n"
    . "#include <stddef.h>\n\n"
    . "extern const unsigned char  ngx_http_tickets_openapi_head[];\n"
    . "extern const size_t  ngx_http_tickets_openapi_head_len;\n"
    . "extern const unsigned char  ngx_http_tickets_openapi_tail[];\n"
    . "extern const size_t  ngx_http_tickets_openapi_tail_len;\n"
    . "extern const char  ngx_http_tickets_openapi_tag[];\n\n"
    . bytes('ngx_http_tickets_openapi_head', $parts[0])
    . bytes('ngx_http_tickets_openapi_tail', $parts[1])
    . "const char  ngx_http_tickets_openapi_tag[] = \"$tag\";\n";

write_file($c_out, $c);

sub bytes {
    my ($name, $data) = @_;
    my @b = unpack 'C*', $data;
    my $s = "const unsigned char  ${name}[] = {\n";
    while (my @line = splice @b, 0, 16) {
        $s .= '    ' . join(', ', map { sprintf '0x%02x', $_ } @line) . ",\n";
    }
    $s .= "    0\n};\n\nconst size_t  ${name}_len = " . length($data) . ";\n\n";
    return $s;
}

# written whole or not at all, so that make never sees half a file
sub write_file {
    my ($file, $data) = @_;
    open my $fh, '>:raw', "$file.tmp" or die "$file.tmp: $!\n";
    print $fh $data;
    close $fh or die "$file.tmp: $!\n";
    rename "$file.tmp", $file or die "$file: $!\n";
}
