package Tickets::Sink;

# Local receivers of notifications for the tests: an SMTP server
# (Debian's aiosmtpd, writing each message into a Maildir) and an HTTP
# recorder (this file, forked: one JSON file per request), on free ports
# of 127.0.0.1, the recorder also on a unix socket.
#
#   my $sink = Tickets::Sink->new(dir => "$dir/sink");
#   $sink->smtp_url;                 # smtp://127.0.0.1:PORT
#   $sink->http_url('/push');        # http://127.0.0.1:PORT/push
#   $sink->unix_url('/tpi');         # unix:/.../http.sock:/tpi
#   my @m = $sink->wait_mails(sub { ... }, 2, 5);  # 2 matching, 5 s at most
#   my @r = $sink->wait_requests(sub { ... }, 1, 5);
#   $sink->http_status(503);         # what the recorder answers from now
#   $sink->stop_smtp; $sink->start_smtp; $sink->stop_http; ...
#
# A mail is {raw, headers => {lower-case name => [values]}, header(name),
# subject (RFC 2047 decoded), body (quoted-printable decoded, characters),
# rcpt => [envelope recipients]}; a request is {method, path, via,
# headers => {lower-case name => value}, body}.  Only the process that
# started the servers stops them, at the latest when the object goes.

use strict;
use warnings;

use Encode ();
use File::Path qw(make_path);
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use JSON::PP;
use MIME::QuotedPrint ();
use POSIX ();
use Time::HiRes qw(sleep time);

use Tickets::Test;

our $PYTHON = $ENV{TEST_PYTHON3} // '/usr/bin/python3';

my $JSON = JSON::PP->new->utf8->canonical;

sub new {
    my ($class, %o) = @_;
    my $self = bless { dir => $o{dir}, owner => $$ }, $class;
    make_path("$self->{dir}/http",
        map { "$self->{dir}/Maildir/$_" } qw(tmp new cur));
    $self->{smtp_port} = Tickets::Test::free_port();
    $self->{http_port} = Tickets::Test::free_port();
    $self->{sock} = "$self->{dir}/http.sock";
    $self->start_smtp unless ($o{smtp} // 1) == 0;
    $self->start_http unless ($o{http} // 1) == 0;
    return $self;
}

sub smtp_port { $_[0]{smtp_port} }
sub http_port { $_[0]{http_port} }
sub smtp_url  { "smtp://127.0.0.1:$_[0]{smtp_port}" }
sub http_url  { "http://127.0.0.1:$_[0]{http_port}" . ($_[1] // '/') }
sub unix_url  { "unix:$_[0]{sock}:" . ($_[1] // '/') }


# SMTP --------------------------------------------------------------------

sub start_smtp {
    my ($self) = @_;
    return $self if $self->{smtp_pid};
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/smtp.log";
        open STDERR, '>&', \*STDOUT;
        exec $PYTHON, '-m', 'aiosmtpd', '-n', '-l',
            "127.0.0.1:$self->{smtp_port}", '-c', 'aiosmtpd.handlers.Mailbox',
            "$self->{dir}/Maildir"
            or POSIX::_exit(127);
    }
    $self->{smtp_pid} = $pid;
    Tickets::Test::wait_port($self->{smtp_port}, 10)
        or die "aiosmtpd did not start:\n"
            . Tickets::Test::_slurp("$self->{dir}/smtp.log");
    return $self;
}

sub stop_smtp {
    my ($self) = @_;
    _stop($self->{smtp_pid}) if $self->{smtp_pid} && $self->{owner} == $$;
    delete $self->{smtp_pid};
    return $self;
}

# Every message of the Maildir, in the order they arrived.
sub mails {
    my ($self) = @_;
    my @files;
    for my $sub (qw(new cur)) {
        opendir my $dh, "$self->{dir}/Maildir/$sub" or next;
        push @files, map { "$self->{dir}/Maildir/$sub/$_" }
            grep { !/^\./ } readdir $dh;
    }
    my %mtime = map { $_ => (Time::HiRes::stat($_))[9] // 0 } @files;
    @files = sort { $mtime{$a} <=> $mtime{$b} || $a cmp $b } @files;
    return map { parse_mail(Tickets::Test::_slurp($_)) } @files;
}

sub parse_mail {
    my ($raw) = @_;
    my ($head, $body) = split /\r?\n\r?\n/, $raw, 2;
    $head =~ s/\r?\n[ \t]+/ /g;
    my (%h, @order);
    for (split /\r?\n/, $head) {
        my ($name, $value) = /^([^:]+):[ \t]*(.*)$/ or next;
        push @{$h{lc $name}}, $value;
        push @order, lc $name;
    }
    my $text = MIME::QuotedPrint::decode_qp($body // '');
    $text =~ s/\r\n/\n/g;
    my $subject = $h{subject} ? $h{subject}[0] : undef;
    $subject = Encode::decode('MIME-Header', $subject) if defined $subject;
    my $mail = {
        raw     => $raw,
        head    => $head,
        headers => \%h,
        order   => \@order,
        subject => $subject,
        body    => Encode::decode('UTF-8', $text),
        rcpt    => [map { lc } split /,\s*/, $h{'x-rcptto'}[0] // ''],
    };
    return bless $mail, 'Tickets::Sink::Mail';
}

sub wait_mails {
    my ($self, $match, $n, $timeout) = @_;
    return _wait(sub { grep { $match->($_) } $self->mails }, $n, $timeout);
}


# HTTP --------------------------------------------------------------------

sub start_http {
    my ($self) = @_;
    return $self if $self->{http_pid};
    unlink $self->{sock};
    my $tcp = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $self->{http_port}, Proto => 'tcp', Listen => 64,
        ReuseAddr => 1) or die "listen $self->{http_port}: $!";
    my $unix = IO::Socket::UNIX->new(Local => $self->{sock},
        Type => SOCK_STREAM, Listen => 64) or die "listen $self->{sock}: $!";
    chmod 0666, $self->{sock};
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{TERM} = sub { POSIX::_exit(0) };
        $self->_serve($tcp, $unix);
        POSIX::_exit(0);
    }
    close $tcp;
    close $unix;
    $self->{http_pid} = $pid;
    return $self;
}

sub stop_http {
    my ($self) = @_;
    _stop($self->{http_pid}) if $self->{http_pid} && $self->{owner} == $$;
    delete $self->{http_pid};
    unlink $self->{sock};
    return $self;
}

# The status the recorder answers with, read at each request.
sub http_status {
    my ($self, $status) = @_;
    Tickets::Test::_spew("$self->{dir}/status.tmp", "$status\n");
    rename "$self->{dir}/status.tmp", "$self->{dir}/status"
        or die "rename: $!";
    return $self;
}

sub requests {
    my ($self) = @_;
    opendir my $dh, "$self->{dir}/http" or return ();
    my @files = sort grep { /^\d+-\d+\.json$/ } readdir $dh;
    return map { $JSON->decode(Tickets::Test::_slurp("$self->{dir}/http/$_")) }
        @files;
}

sub wait_requests {
    my ($self, $match, $n, $timeout) = @_;
    return _wait(sub { grep { $match->($_) } $self->requests }, $n, $timeout);
}

# In the child: one request per connection, answered and recorded.
sub _serve {
    my ($self, @listeners) = @_;
    my $sel = IO::Select->new(@listeners);
    my $n = 0;
    while (1) {
        for my $l ($sel->can_read) {
            my $c = $l->accept or next;
            my $req = _read_request($c) or next;
            $req->{via} = $l == $listeners[0] ? 'tcp' : 'unix';
            my $status = 200;
            if (open my $fh, '<', "$self->{dir}/status") {
                ($status) = (<$fh> // '200') =~ /(\d+)/;
            }
            $req->{answered} = $status + 0;
            my $file = sprintf '%s/http/%010d-%06d.json', $self->{dir},
                int(time), ++$n;
            # recorded before the answer: what was answered was recorded
            Tickets::Test::_spew("$file.tmp", $JSON->encode($req))
                if $status < 300;
            rename "$file.tmp", $file if $status < 300;
            my $body = $status < 300 ? "{\"ok\":true}" : "{\"ok\":false}";
            print $c "HTTP/1.1 $status Sink\r\nContent-Type: application/json"
                . "\r\nContent-Length: " . length($body)
                . "\r\nConnection: close\r\n\r\n$body";
            close $c;
        }
    }
}

sub _read_request {
    my ($c) = @_;
    my $buf = '';
    my $until = time + 5;
    while ($buf !~ /\r\n\r\n/) {
        return undef if time > $until;
        my $r = sysread $c, $buf, 65536, length $buf;
        return undef unless $r;
    }
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    my ($line, @lines) = split /\r\n/, $head;
    my ($method, $path) = split / /, $line;
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $h{lc $k} = $v;
    }
    my $len = $h{'content-length'} // 0;
    while (length($body) < $len) {
        return undef if time > $until;
        my $r = sysread $c, $body, $len - length($body), length $body;
        return undef unless $r;
    }
    return { method => $method, path => $path, headers => \%h,
             body => $body };
}


# Both --------------------------------------------------------------------

sub _wait {
    my ($list, $n, $timeout) = @_;
    my $until = time + ($timeout // 5);
    my @got;
    while (1) {
        @got = $list->();
        return @got if @got >= $n || time > $until;
        sleep 0.05;
    }
}

sub _stop {
    my ($pid) = @_;
    kill 'TERM', $pid;
    for (1 .. 100) {
        return if waitpid($pid, POSIX::WNOHANG()) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

sub stop {
    my ($self) = @_;
    $self->stop_smtp;
    $self->stop_http;
}

sub DESTROY {
    my ($self) = @_;
    return unless $self->{owner} == $$;
    local ($!, $@, $?);
    $self->stop;
}


package Tickets::Sink::Mail;

# The first value of a header, undef when there is none.
sub header {
    my ($self, $name) = @_;
    my $v = $self->{headers}{lc $name};
    return $v ? $v->[0] : undef;
}

1;
