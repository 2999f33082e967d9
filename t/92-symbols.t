#!/usr/bin/perl
# debian/libtickets0.symbols names exactly what libtickets.so exports: a
# public function added or removed shows here, not first in a package
# build (dpkg-gensymbols only warns of new symbols).

use strict;
use warnings;
use Test::More;
use Tickets::Test;

my $so = "$Tickets::Test::ROOT/build/libtickets.so";
plan skip_all => "no $so (make lib)" unless -e $so;

my ($rc, $out) = Tickets::Test::run_cmd(['nm', '-D', '--defined-only', $so]);
is $rc, 0, 'nm reads the library';
my @exported = sort grep { /^tk_/ }
    map { (split ' ')[2] // () } grep { / T / } split /\n/, $out;

open my $fh, '<', "$Tickets::Test::ROOT/debian/libtickets0.symbols" or die $!;
my @listed = sort map { / (tk_\w+)\@Base / ? $1 : () } <$fh>;

ok @exported > 50, scalar(@exported) . ' tk_ functions exported';
is_deeply \@listed, \@exported,
    'the symbols file lists every exported tk_ function, and nothing else';

done_testing;
