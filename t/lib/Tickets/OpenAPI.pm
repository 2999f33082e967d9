package Tickets::OpenAPI;

# Checks HTTP responses against the OpenAPI 3.1 document (docs/openapi.yaml,
# as the build turns it into build/openapi.json):
#
#   my $oa = Tickets::OpenAPI->new("$ROOT/build/openapi.json");
#   my ($op, @errors) = $oa->check($method, $path_and_query, $response);
#
# $response is an HTTP::Tiny response (status, headers with lower-case
# names, content; json when the harness decoded it).  @errors is empty when
# the status is declared for the operation the method and path select (as
# OpenAPI matches them: concrete paths before templated ones, a path
# parameter only where its schema allows the segment; case-insensitively
# and with one trailing slash ignored, as the module routes), every
# required header of that response is present with a value its schema
# allows, and the body has a declared media type and, for JSON, is valid
# against its schema.  An unknown path must be components/responses/
# NotFound, a known path with another method MethodNotAllowed.  HEAD is
# checked as GET without a body, except where the GET has x-no-head: true
# (then HEAD must be 405).
#
# OpenAPI 3.1 schemas are JSON Schema 2020-12.  Debian's JSON::Validator
# 5.14 reads OpenAPI 2 and 3.0 documents only, and JSON Schema up to
# 2019-09; the document's schemas use nothing 2020-12 changed (no items
# arrays, prefixItems or $dynamicRef), so they are validated as 2019-09,
# the whole document loaded once so that every $ref resolves.

use strict;
use warnings;

use JSON::PP ();
use JSON::Validator::Schema::Draft201909 ();

my $JSON = JSON::PP->new->utf8->allow_nonref;
# the keys of kept results: Cpanel::JSON::XS when it is there (fast)
my $CANON = eval { require Cpanel::JSON::XS;
                   Cpanel::JSON::XS->new->canonical->allow_nonref }
    // JSON::PP->new->canonical->allow_nonref;

sub new {
    my ($class, $file) = @_;
    open my $fh, '<:raw', $file or die "$file: $! (make builds it)\n";
    local $/;
    my $doc = $JSON->decode(<$fh>);
    return $class->from_data($doc);
}

sub from_data {
    my ($class, $doc) = @_;
    my $self = bless { doc => $doc, cache => {} }, $class;
    $self->{validator} = JSON::Validator::Schema::Draft201909->new($doc);

    my @routes;
    for my $path (sort keys %{$doc->{paths}}) {
        my $item = $self->deref($doc->{paths}{$path});
        my @params = map { $self->deref($_) } @{$item->{parameters} // []};
        my (@names, $re);
        $re = join '', map {
            if (/^\{(.+)\}$/) { push @names, $1; '([^/]+)' }
            else { quotemeta }
        } split /(\{[^}]+\})/, $path;
        my %ops;
        for my $m (qw(get put post delete options head patch trace)) {
            next unless my $op = $item->{$m};
            my %p = map { ($_->{name} => $_) } @params,
                map { $self->deref($_) } @{$op->{parameters} // []};
            $ops{uc $m} = { op => $op, params => \%p };
        }
        push @routes, { path => $path, re => qr/^$re\/?$/i, names => \@names,
            ops => \%ops };
    }
    # concrete paths before templated ones
    $self->{routes} = [sort { @{$a->{names}} <=> @{$b->{names}}
        || $a->{path} cmp $b->{path} } @routes];
    return $self;
}

sub doc { $_[0]{doc} }

# A "#/..." reference followed to what it names (a Reference Object).
sub deref {
    my ($self, $node) = @_;
    my %seen;
    while (ref $node eq 'HASH' && defined $node->{'$ref'}) {
        my $ref = $node->{'$ref'};
        die "only local references are read: $ref\n" unless $ref =~ s/^#//;
        die "a reference loop at $ref\n" if $seen{$ref}++;
        $node = $self->{doc};
        for my $k (grep { length } split m{/}, $ref) {
            $k =~ s/~1/\//g;
            $k =~ s/~0/~/g;
            $node = ref $node eq 'ARRAY' ? $node->[$k] : $node->{$k};
            die "an unresolved reference #$ref\n"
                unless defined $node;
        }
    }
    return $node;
}

# The route and operation of a request: (route, op entry, allowed methods).
sub find {
    my ($self, $method, $path) = @_;
    $path =~ s/[?#].*//s;
    $path =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    my @allowed;
    ROUTE:
    for my $route (@{$self->{routes}}) {
        my @vals = $path =~ $route->{re} or next;
        @vals = () if !@{$route->{names}};
        my ($any) = values %{$route->{ops}};
        for my $i (0 .. $#vals) {
            my $p = $any && $any->{params}{$route->{names}[$i]};
            next ROUTE unless $self->_segment_ok($p, $vals[$i]);
        }
        # HEAD is GET without a body, unless the GET says x-no-head
        my $get = $route->{ops}{GET};
        my $m = $method eq 'HEAD' && !$route->{ops}{HEAD} && $get
            && !$get->{op}{'x-no-head'} ? 'GET' : $method;
        return ($route, $route->{ops}{$m}) if $route->{ops}{$m};
        push @allowed, grep { $_ ne 'GET' || $method ne 'HEAD' }
            keys %{$route->{ops}};
        push @allowed, 'GET' if $method eq 'HEAD' && $get;
    }
    return (undef, undef, @allowed);
}

# Whether a path segment fits its parameter's schema, as the router reads
# it: integers are positive and fit in 64 bits, uuids are 36 characters.
sub _segment_ok {
    my ($self, $param, $v) = @_;
    return 1 unless $param;
    my $s = $self->deref($param->{schema} // {});
    my $type = $s->{type} // '';
    if ($type eq 'integer') {
        return 0 unless $v =~ /^[0-9]+$/ && $v =~ /[1-9]/;
        (my $n = $v) =~ s/^0+//;
        return length($n) < 19 || (length($n) == 19
            && $n le '9223372036854775807');
    }
    return $v =~ /^[0-9A-Fa-f-]{36}$/ if ($s->{format} // '') eq 'uuid';
    return length $v;
}

# (operation name, errors) of one response.
sub check {
    my ($self, $method, $path, $r) = @_;
    $method = uc $method;
    my ($route, $entry, @allowed) = $self->find($method, $path);
    my $status = $r->{status};
    my ($name, $resp);

    if ($entry) {
        $name = ($entry->{op}{operationId} // '?') . " ($method $route->{path})";
        my $responses = $entry->{op}{responses} // {};
        $resp = $responses->{$status}
            // $responses->{substr($status, 0, 1) . 'XX'}
            // $responses->{default};
        return ($name, "status $status is not declared (declared: "
            . join(', ', sort keys %$responses) . ')') unless $resp;
    } elsif (@allowed) {
        $name = "$method $path (a path without $method)";
        return ($name, "status $status, want 405") unless $status == 405;
        $resp = { '$ref' => '#/components/responses/MethodNotAllowed' };
    } else {
        $name = "$method $path (no such path)";
        return ($name, "status $status, want 404") unless $status == 404;
        $resp = { '$ref' => '#/components/responses/NotFound' };
    }
    $resp = $self->deref($resp);

    my @errors;
    my $headers = $r->{headers} // {};
    for my $h (sort keys %{$resp->{headers} // {}}) {
        my $spec = $self->deref($resp->{headers}{$h});
        my $v = $headers->{lc $h};
        if (!defined $v) {
            push @errors, "no $h header" if $spec->{required};
            next;
        }
        push @errors, map { "header $h: $_" }
            $self->_validate_header($v, $spec->{schema});
    }

    my $body = $r->{content} // '';
    my $content = $resp->{content};
    return ($name, @errors) if $method eq 'HEAD';
    if (!$content || !%$content) {
        push @errors, 'a body (' . length($body) . ' bytes) where none is'
            . ' declared' if length $body;
        return ($name, @errors);
    }

    my ($type) = lc($headers->{'content-type'} // '') =~ m{^\s*([^;\s]+)};
    $type //= '';
    my ($media) = grep { lc $_ eq $type } keys %$content;
    ($media) = grep { m{^([^/]+)/\*$} && index($type, "$1/") == 0 }
        keys %$content unless $media;
    $media //= '*/*' if $content->{'*/*'};
    unless ($media) {
        push @errors, "content type '$type' is not declared (declared: "
            . join(', ', sort keys %$content) . ')';
        return ($name, @errors);
    }
    my $schema = $content->{$media}{schema};
    if ($schema && $media =~ m{^application/(?:[\w.-]+\+)?json$}) {
        my $data = exists $r->{json} ? $r->{json}
            : eval { $JSON->decode($body) };
        if (!defined $data && ($r->{json_error} || $@ || $body eq '')) {
            push @errors, 'the body is not JSON: '
                . ($r->{json_error} || $@ || 'empty');
        } else {
            push @errors, $self->validate($data, $schema);
        }
    }
    return ($name, @errors);
}

# Errors of data against a schema of the document (as strings).  The same
# value against the same schema gives the same answer, and the tickets of
# one test recur in many answers: results are kept per value, and the
# items of an array are checked (and kept) one by one.
sub validate {
    my ($self, $data, $schema) = @_;
    if (ref $data eq 'ARRAY' && ref $schema eq 'HASH'
        && ($schema->{type} // '') eq 'array' && keys %$schema == 2
        && ref $schema->{items} eq 'HASH')
    {
        my @e;
        for my $i (0 .. $#$data) {
            push @e, map { "/$i$_" } $self->_validate($data->[$i],
                $schema->{items});
        }
        return @e;
    }
    return $self->_validate($data, $schema);
}

sub _validate {
    my ($self, $data, $schema) = @_;
    my $ck = "$schema\0" . $CANON->encode($data);
    my $e = $self->{cache}{$ck};
    return @$e if $e;
    %{$self->{cache}} = () if keys %{$self->{cache}} > 20000;
    $e = $self->{cache}{$ck} =
        [map { "$_" } $self->{validator}->validate($data, $schema)];
    return @$e;
}

sub _validate_header {
    my ($self, $v, $schema) = @_;
    return () unless $schema;
    my $s = $self->deref($schema);
    if (($s->{type} // '') eq 'integer') {
        return ("'$v' is not an integer") unless $v =~ /^-?[0-9]+$/;
        $v = 0 + $v;
    }
    return map { "'$v': $_" } $self->validate($v, $schema);
}

1;
